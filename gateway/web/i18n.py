"""The admin pages' message catalogue: Dutch, French and English.

A key missing in a language falls back to English, then to the key itself, so a page never
breaks on a missing translation.
"""

from __future__ import annotations

LANGUAGES = ("nl", "fr", "en")
DEFAULT_LANGUAGE = "nl"

MESSAGES: dict[str, dict[str, str]] = {
    "app.title": {"nl": "Gateway beheer", "fr": "Gateway administration", "en": "Gateway admin"},
    "nav.dashboard": {"nl": "Overzicht", "fr": "Tableau de bord", "en": "Dashboard"},
    "nav.undeliverable": {"nl": "Onbestelbaar", "fr": "Non distribuables", "en": "Undeliverable"},
    "nav.search": {"nl": "Zoeken", "fr": "Rechercher", "en": "Search"},
    "nav.signout": {"nl": "Afmelden", "fr": "Se déconnecter", "en": "Sign out"},
    "signin.title": {"nl": "Aanmelden", "fr": "Connexion", "en": "Sign in"},
    "signin.email": {"nl": "E-mailadres", "fr": "Adresse e-mail", "en": "E-mail address"},
    "signin.password": {"nl": "Wachtwoord", "fr": "Mot de passe", "en": "Password"},
    "signin.submit": {"nl": "Aanmelden", "fr": "Se connecter", "en": "Sign in"},
    "signin.failed": {"nl": "E-mailadres of wachtwoord klopt niet.", "fr": "Adresse e-mail ou mot de passe incorrect.", "en": "E-mail address or password is not right."},
    "dashboard.title": {"nl": "Overzicht", "fr": "Tableau de bord", "en": "Dashboard"},
    "dashboard.period": {"nl": "Periode", "fr": "Période", "en": "Period"},
    "dashboard.from": {"nl": "van", "fr": "du", "en": "from"},
    "dashboard.to": {"nl": "tot en met", "fr": "au", "en": "to"},
    "dashboard.show": {"nl": "Toon", "fr": "Afficher", "en": "Show"},
    "dashboard.dispatches": {"nl": "Verzendingen per kanaal en status", "fr": "Envois par canal et état", "en": "Dispatches by channel and state"},
    "dashboard.invalid": {"nl": "Documenten die de validatie niet doorstonden", "fr": "Documents refusés à la validation", "en": "Documents that failed validation"},
    "dashboard.undeliverable": {"nl": "Onbestelbare zendingen", "fr": "Envois non distribuables", "en": "Undeliverable cases"},
    "dashboard.refused": {"nl": "geweigerd vóór uitgifte", "fr": "refusé avant émission", "en": "refused before issue"},
    "dashboard.until": {"nl": "tot", "fr": "jusqu'au", "en": "until"},
    "hold.kind.dispute": {"nl": "Betwisting", "fr": "Contestation", "en": "Dispute"},
    "hold.kind.debt_mediation": {"nl": "Schuldbemiddeling", "fr": "Médiation de dettes", "en": "Debt mediation"},
    "hold.kind.medical_declaration": {"nl": "Medisch attest", "fr": "Attestation médicale", "en": "Medical declaration"},
    "hold.kind.manual": {"nl": "Manueel", "fr": "Manuel", "en": "Manual"},
    "hold.kind.buyer_response_uq": {"nl": "Vraag van de koper (UQ)", "fr": "Question de l'acheteur (UQ)", "en": "Buyer query (UQ)"},
    "hold.kind.buyer_response_re": {"nl": "Geweigerd door de koper (RE)", "fr": "Refusé par l'acheteur (RE)", "en": "Rejected by the buyer (RE)"},
    "dashboard.on_hold": {"nl": "Vorderingen in wacht", "fr": "Créances suspendues", "en": "Claims on hold"},
    "common.none": {"nl": "Geen.", "fr": "Aucun.", "en": "None."},
    "common.total": {"nl": "Totaal", "fr": "Total", "en": "Total"},
    "common.channel": {"nl": "Kanaal", "fr": "Canal", "en": "Channel"},
    "common.state": {"nl": "Status", "fr": "État", "en": "State"},
    "common.claim": {"nl": "Vordering", "fr": "Créance", "en": "Claim"},
    "common.debtor": {"nl": "Schuldenaar", "fr": "Débiteur", "en": "Debtor"},
    "common.creditor": {"nl": "Schuldeiser", "fr": "Créancier", "en": "Creditor"},
    "common.recipient": {"nl": "Ontvanger", "fr": "Destinataire", "en": "Recipient"},
    "common.reason": {"nl": "Reden", "fr": "Motif", "en": "Reason"},
    "common.document": {"nl": "Document", "fr": "Document", "en": "Document"},
    "common.amount": {"nl": "Bedrag", "fr": "Montant", "en": "Amount"},
    "common.open": {"nl": "Open", "fr": "Solde", "en": "Open"},
    "common.due": {"nl": "Vervaldag", "fr": "Échéance", "en": "Due"},
    "common.status": {"nl": "Status", "fr": "Statut", "en": "Status"},
    "common.when": {"nl": "Wanneer", "fr": "Quand", "en": "When"},
    "common.what": {"nl": "Wat", "fr": "Quoi", "en": "What"},
    "common.details": {"nl": "Details", "fr": "Détails", "en": "Details"},
    "common.since": {"nl": "Sinds", "fr": "Depuis", "en": "Since"},
    "role.viewer": {"nl": "lezer", "fr": "lecteur", "en": "viewer"},
    "role.clerk": {"nl": "dossierbeheerder", "fr": "gestionnaire", "en": "clerk"},
    "role.financial_director": {"nl": "financieel directeur", "fr": "directeur financier", "en": "financial director"},
    "common.colon": {"nl": ": ", "fr": " : ", "en": ": "},  # French sets a (narrow) space before the colon
    "common.times": {"nl": "Tijden in Belgische tijd (Europe/Brussels).", "fr": "Heures à l'heure belge (Europe/Brussels).", "en": "Times in Belgian time (Europe/Brussels)."},
    "undeliverable.title": {"nl": "Onbestelbare zendingen", "fr": "Envois non distribuables", "en": "Undeliverable queue"},
    "undeliverable.why": {"nl": "Waarom dit kanaal", "fr": "Pourquoi ce canal", "en": "Why this channel"},
    "undeliverable.next": {"nl": "Wat de router daarna deed", "fr": "Ce que le routeur a fait ensuite", "en": "What the router did next"},
    "undeliverable.next.dispatch.fallback": {"nl": "Verstuurd via het volgende kanaal", "fr": "Envoyé par le canal suivant", "en": "Sent on the next channel"},
    "undeliverable.next.contact_repair.requested": {"nl": "Nieuw contact gevraagd", "fr": "Nouveau contact demandé", "en": "Asked for a new contact"},
    "undeliverable.next.contact_repair.skipped": {"nl": "Geen nieuw contact gevraagd", "fr": "Pas de nouveau contact demandé", "en": "No new contact asked"},
    "undeliverable.next.dispatch.no_channel_left": {"nl": "Geen kanaal meer over", "fr": "Plus aucun canal", "en": "No channel left"},
    "undeliverable.fix": {"nl": "Contact verbeteren en opnieuw versturen", "fr": "Corriger le contact et renvoyer", "en": "Fix the contact and resend"},
    "undeliverable.field.email": {"nl": "Nieuw e-mailadres", "fr": "Nouvelle adresse e-mail", "en": "New e-mail address"},
    "undeliverable.field.phone": {"nl": "Nieuw gsm-nummer", "fr": "Nouveau numéro de GSM", "en": "New mobile number"},
    "undeliverable.field.peppol_id": {"nl": "Peppol-deelnemer-id", "fr": "Identifiant de participant Peppol", "en": "Peppol participant id"},
    "undeliverable.resend.email": {"nl": "Opnieuw versturen per e-mail", "fr": "Renvoyer par e-mail", "en": "Resend by e-mail"},
    "undeliverable.resend.sms": {"nl": "Opnieuw versturen per sms", "fr": "Renvoyer par SMS", "en": "Resend by SMS"},
    "undeliverable.resend.paper": {"nl": "Opnieuw versturen per brief", "fr": "Renvoyer par courrier", "en": "Resend by letter"},
    "undeliverable.resend.registered_paper": {"nl": "Opnieuw versturen per aangetekende brief", "fr": "Renvoyer par recommandé", "en": "Resend by registered letter"},
    "undeliverable.resend.peppol": {"nl": "Opnieuw versturen via Peppol", "fr": "Renvoyer via Peppol", "en": "Resend via Peppol"},
    "undeliverable.street": {"nl": "Straat en nummer", "fr": "Rue et numéro", "en": "Street and number"},
    "undeliverable.postal_code": {"nl": "Postcode", "fr": "Code postal", "en": "Postal code"},
    "undeliverable.city": {"nl": "Gemeente", "fr": "Commune", "en": "City"},
    "undeliverable.unreachable": {"nl": "Onbereikbaar: dossier sluiten", "fr": "Injoignable : clôturer", "en": "Mark unreachable"},
    "undeliverable.read_only": {"nl": "Alleen lezen: uw rol mag contacten niet wijzigen.", "fr": "Lecture seule : votre rôle ne peut pas modifier les contacts.", "en": "Read only: your role cannot change contacts."},
    "undeliverable.resent": {"nl": "Opnieuw in de wachtrij gezet naar", "fr": "Remis en file d'attente vers", "en": "Queued again for"},
    "claim.title": {"nl": "Vordering", "fr": "Créance", "en": "Claim"},
    "claim.timeline": {"nl": "Tijdlijn", "fr": "Chronologie", "en": "Timeline"},
    "claim.ogm": {"nl": "Gestructureerde mededeling", "fr": "Communication structurée", "en": "Structured communication"},
    "claim.download": {"nl": "Download", "fr": "Télécharger", "en": "Download"},
    "claim.event.claim": {"nl": "Vordering aangemaakt", "fr": "Créance créée", "en": "Claim created"},
    "claim.event.document": {"nl": "{kind} uitgegeven", "fr": "{kind} émis(e)", "en": "{kind} issued"},
    "claim.event.dispatch": {"nl": "Verzending per {channel}", "fr": "Envoi par {channel}", "en": "Dispatch by {channel}"},
    "claim.event.attempt": {"nl": "Poging", "fr": "Tentative", "en": "Attempt"},
    "claim.event.audit": {"nl": "Historiek", "fr": "Historique", "en": "History"},
    "claim.event.payment": {"nl": "Betaling", "fr": "Paiement", "en": "Payment"},
    "claim.event.callback": {"nl": "Terugmelding {channel}: {reported}", "fr": "Retour {channel} : {reported}", "en": "Callback from {channel}: {reported}"},
    "claim.validation": {"nl": "validatie", "fr": "validation", "en": "validation"},
    "claim.paid_on": {"nl": "betaald op", "fr": "payé le", "en": "paid on"},
    "claim.source": {"nl": "bron", "fr": "source", "en": "source"},
    "claim.reference": {"nl": "referentie", "fr": "référence", "en": "reference"},
    "claim.superseded": {"nl": "vervangen door een nieuwe verzending", "fr": "remplacé par un nouvel envoi", "en": "superseded by a new dispatch"},
    "search.title": {"nl": "Zoeken", "fr": "Rechercher", "en": "Search"},
    "search.hint": {"nl": "Naam, ondernemingsnummer, OGM, vorderingsnummer of e-mail", "fr": "Nom, numéro d'entreprise, communication structurée, numéro de créance ou e-mail", "en": "Name, enterprise number, OGM, claim number or e-mail"},
    "search.results": {"nl": "Resultaten", "fr": "Résultats", "en": "Results"},
    "error.forbidden": {"nl": "Dat mag uw rol niet.", "fr": "Votre rôle ne le permet pas.", "en": "Your role may not do that."},
    "error.csrf": {"nl": "Het formulier is verlopen; laad de pagina opnieuw.", "fr": "Le formulaire a expiré ; rechargez la page.", "en": "The form has expired; reload the page."},
    "error.not_found": {"nl": "Niet gevonden.", "fr": "Introuvable.", "en": "Not found."},
    "error.too_many_attempts": {"nl": "Te veel aanmeldpogingen.", "fr": "Trop de tentatives de connexion.", "en": "Too many sign-in attempts."},
    "error.retry_after": {"nl": "Probeer opnieuw over {minutes} minuten.", "fr": "Réessayez dans {minutes} minutes.", "en": "Try again in {minutes} minutes."},
    "nav.escalations": {"nl": "Dwanglijsten", "fr": "Listes de contrainte", "en": "Escalation lists"},
    "dashboard.buyer_responses": {"nl": "Antwoorden van kopers die wachten (UQ, RE)", "fr": "Réponses d'acheteurs en attente (UQ, RE)", "en": "Buyer responses waiting (UQ, RE)"},
    "escalations.title": {"nl": "Dwanglijsten", "fr": "Listes de contrainte", "en": "Escalation lists"},
    "escalations.read_only": {"nl": "Alleen lezen: enkel de financieel directeur keurt lijsten goed.", "fr": "Lecture seule : seul le directeur financier approuve les listes.", "en": "Read only: only the financial director approves lists."},
    "escalations.approved_notice": {"nl": "Goedgekeurd:", "fr": "Approuvé :", "en": "Approved:"},
    "escalations.kind.dwangbevel": {"nl": "Dwangbevel", "fr": "Contrainte", "en": "Dwangbevel (writ of execution)"},
    "escalations.kind.dwangschrift": {"nl": "Dwangschrift (fiscaal)", "fr": "Contrainte fiscale", "en": "Dwangschrift (fiscal)"},
    "escalations.kind.bailiff": {"nl": "Gerechtsdeurwaarder", "fr": "Huissier de justice", "en": "Bailiff"},
    "escalations.kind.disconnection": {"nl": "Afsluiting", "fr": "Coupure", "en": "Disconnection"},
    "escalations.body.college_van_burgemeester_en_schepenen": {"nl": "College van burgemeester en schepenen", "fr": "Collège des bourgmestre et échevins", "en": "College of mayor and aldermen"},
    "escalations.body.vast_bureau": {"nl": "Vast bureau", "fr": "Bureau permanent", "en": "Vast bureau (standing committee)"},
    "escalations.body.directiecomite": {"nl": "Directiecomité", "fr": "Comité de direction", "en": "Directiecomité (management committee)"},
    "escalations.body.financial_director": {"nl": "Financieel directeur", "fr": "Directeur financier", "en": "Financial director"},
    "escalations.body.creditor": {"nl": "Schuldeiser", "fr": "Créancier", "en": "Creditor"},
    "escalations.pending": {"nl": "te keuren", "fr": "à approuver", "en": "to approve"},
    "escalations.status.pending": {"nl": "te keuren", "fr": "à approuver", "en": "pending"},
    "escalations.status.approved": {"nl": "goedgekeurd", "fr": "approuvé", "en": "approved"},
    "escalations.fees": {"nl": "kosten", "fr": "frais", "en": "fees"},
    "escalations.fee": {"nl": "kosten", "fr": "frais", "en": "fee"},
    "escalations.paid": {"nl": "betaald", "fr": "payé", "en": "paid"},
    "escalations.computed": {"nl": "Berekende bedragen", "fr": "Montants calculés", "en": "Computed amounts"},
    "escalations.decided_on": {"nl": "Beslist op", "fr": "Décidé le", "en": "Decided on"},
    "escalations.undisputed": {"nl": "Betwisting", "fr": "Contestation", "en": "Dispute"},
    "escalations.undisputed_since": {"nl": "onbetwist op", "fr": "non contesté le", "en": "undisputed on"},
    "escalations.reminder": {"nl": "Aangetekende aanmaning", "fr": "Rappel recommandé", "en": "Registered reminder"},
    "escalations.step": {"nl": "stap", "fr": "étape", "en": "step"},
    "escalations.dispatch": {"nl": "Verzending", "fr": "Envoi", "en": "Dispatch"},
    "escalations.sent": {"nl": "Verzonden", "fr": "Envoyé", "en": "Sent"},
    "escalations.delivered": {"nl": "Bezorgd", "fr": "Distribué", "en": "Delivered"},
    "escalations.sha256": {"nl": "Inhoud (SHA-256)", "fr": "Contenu (SHA-256)", "en": "Content (SHA-256)"},
    "escalations.approval": {"nl": "Goedkeuring", "fr": "Approbation", "en": "Approval"},
    "escalations.reference": {"nl": "Referentie van de beslissing", "fr": "Référence de la décision", "en": "Decision reference"},
    "escalations.approve_list": {"nl": "Hele lijst goedkeuren ({count} vorderingen)", "fr": "Approuver toute la liste ({count} créances)", "en": "Approve the whole list ({count} claims)"},
    "escalations.approve": {"nl": "Goedkeuren", "fr": "Approuver", "en": "Approve"},
    "escalations.export_csv": {"nl": "CSV", "fr": "CSV", "en": "CSV"},
    "escalations.export_pdf": {"nl": "PDF voor de deurwaarder", "fr": "PDF pour l'huissier", "en": "PDF for the bailiff"},
    "error.title": {"nl": "Fout", "fr": "Erreur", "en": "Error"},
}

# --- the values the pages show: delivery states, claim statuses, channels, audit actions and their facts ---
def _entries(table: dict[str, tuple[str, str, str]], prefix: str) -> dict[str, dict[str, str]]:
    return {f"{prefix}{key}": {"nl": nl, "fr": fr, "en": en} for key, (nl, fr, en) in table.items()}


MESSAGES |= _entries({
    "queued": ("in de wachtrij", "en file d'attente", "queued"),
    "in_flight": ("bezig", "en cours", "in flight"),
    "sent": ("verzonden", "envoyé", "sent"),
    "delivered": ("bezorgd", "distribué", "delivered"),
    "read": ("gelezen", "lu", "read"),
    "accepted": ("aanvaard", "accepté", "accepted"),
    "rejected": ("geweigerd", "refusé", "rejected"),
    "paid": ("betaald", "payé", "paid"),
    "failed_temporary": ("tijdelijk mislukt", "échec temporaire", "failed (temporary)"),
    "failed_permanent": ("definitief mislukt", "échec définitif", "failed (permanent)"),
    "abandoned": ("afgebroken", "abandonné", "abandoned"),
}, "state.")
MESSAGES |= _entries({
    "open": ("open", "ouverte", "open"),
    "partially_paid": ("deels betaald", "partiellement payée", "partially paid"),
    "paid": ("betaald", "payée", "paid"),
    "disputed": ("betwist", "contestée", "disputed"),
    "on_hold": ("in wacht", "suspendue", "on hold"),
    "in_payment_plan": ("afbetalingsplan", "plan de paiement", "in a payment plan"),
    "escalated": ("gedwongen invordering", "recouvrement forcé", "escalated"),
    "cancelled": ("geannuleerd", "annulée", "cancelled"),
    "written_off": ("afgeboekt", "irrécouvrable", "written off"),
}, "status.")
MESSAGES |= _entries({
    "peppol": ("Peppol", "Peppol", "Peppol"),
    "email": ("e-mail", "e-mail", "e-mail"),
    "sms": ("sms", "SMS", "SMS"),
    "ebox": ("eBox", "eBox", "eBox"),
    "paper": ("brief", "courrier", "letter"),
    "registered_paper": ("aangetekende brief", "recommandé", "registered letter"),
}, "channel.")
MESSAGES |= _entries({
    "invoice": ("Factuur", "Facture", "Invoice"),
    "credit_note": ("Creditnota", "Note de crédit", "Credit note"),
    "reminder": ("Aanmaning", "Rappel", "Reminder"),
    "fee_invoice": ("Kostennota", "Note de frais", "Fee invoice"),
    "contact_repair": ("Bericht: nieuw contact", "Message : nouveau contact", "Contact repair message"),
    "notice": ("Bericht", "Message", "Notice"),
}, "document.kind.")
MESSAGES |= _entries({
    "invoice": ("factuur", "facture", "invoice"),
    "rent": ("huur", "loyer", "rent"),
    "lease": ("pacht", "bail", "lease"),
    "retribution": ("retributie", "redevance", "retribution"),
    "tax_assessment": ("belastingaanslag", "avertissement-extrait de rôle", "tax assessment"),
}, "claim_type.")
MESSAGES |= _entries({
    "clean": ("in orde", "conforme", "clean"),
    "invalid": ("ongeldig", "non conforme", "invalid"),
    "not_run": ("niet uitgevoerd", "non effectuée", "not run"),
    "not_applicable": ("niet van toepassing", "sans objet", "not applicable"),
}, "validation.")
MESSAGES |= _entries({
    "api": ("API", "API", "API"),
    "bank_statement": ("rekeninguittreksel", "extrait de compte", "bank statement"),
    "bancontact": ("Bancontact", "Bancontact", "Bancontact"),
    "cash": ("contant", "espèces", "cash"),
}, "source.")
MESSAGES |= _entries({
    "claim.created": ("Vordering aangemaakt", "Créance créée", "Claim created"),
    "claim.routed": ("Kanaal gekozen", "Canal choisi", "Channel chosen"),
    "claim.cancelled": ("Vordering geannuleerd", "Créance annulée", "Claim cancelled"),
    "claim.reported_paid": ("Door de koper als betaald gemeld", "Signalée payée par l'acheteur", "Reported paid by the buyer"),
    "debtor.created": ("Schuldenaar aangemaakt", "Débiteur créé", "Debtor created"),
    "debtor.updated": ("Schuldenaar gewijzigd", "Débiteur modifié", "Debtor updated"),
    "contact.added": ("Contact toegevoegd", "Contact ajouté", "Contact added"),
    "contact.removed": ("Contact verwijderd", "Contact supprimé", "Contact removed"),
    "contact.invalidated": ("Contact onbruikbaar", "Contact inutilisable", "Contact marked unusable"),
    "contact.confirmation_sent": ("Bevestiging gevraagd", "Confirmation demandée", "Confirmation sent"),
    "contact.confirmed": ("Contact bevestigd", "Contact confirmé", "Contact confirmed"),
    "consent.recorded": ("Toestemming geregistreerd", "Consentement enregistré", "Consent recorded"),
    "document.issued": ("Document uitgegeven", "Document émis", "Document issued"),
    "document.refused": ("Document geweigerd", "Document refusé", "Document refused"),
    "credit_note.issued": ("Creditnota uitgegeven", "Note de crédit émise", "Credit note issued"),
    "reminder.issued": ("Aanmaning uitgegeven", "Rappel émis", "Reminder issued"),
    "dispatch.reported": ("Terugmelding", "Retour du prestataire", "Callback"),
    "dispatch.fallback": ("Volgend kanaal", "Canal suivant", "Next channel"),
    "dispatch.no_channel_left": ("Geen kanaal meer over", "Plus aucun canal", "No channel left"),
    "dispatch.resent": ("Opnieuw verstuurd", "Renvoyé", "Resent"),
    "dispatch.superseded": ("Vervangen", "Remplacé", "Superseded"),
    "dispatch.closed_unreachable": ("Gesloten: onbereikbaar", "Clôturé : injoignable", "Closed: unreachable"),
    "dispatch.marked_unreachable": ("Onbereikbaar gemeld", "Signalé injoignable", "Marked unreachable"),
    "contact_repair.requested": ("Nieuw contact gevraagd", "Nouveau contact demandé", "New contact asked"),
    "contact_repair.skipped": ("Geen nieuw contact gevraagd", "Pas de nouveau contact demandé", "No new contact asked"),
    "payment.recorded": ("Betaling geboekt", "Paiement enregistré", "Payment recorded"),
    "dunning.step_decided": ("Aanmaningsbeslissing: stap {step}", "Décision de rappel : étape {step}", "Dunning decision: reminder {step}"),
    "dunning.escalated": ("Aanmaningsbeslissing: {list}", "Décision de rappel : {list}", "Dunning decision: {list}"),
    "dunning.step_ready": ("Aanmaning klaar om te versturen", "Rappel prêt à l'envoi", "Reminder ready to send"),
    "dunning.step_cancelled": ("Aanmaning geschrapt", "Rappel annulé", "Reminder cancelled"),
    "dunning.dispatch_attached": ("Aanmaning verstuurd", "Rappel envoyé", "Reminder sent"),
    "dunning.refused": ("Aanmaning geweigerd", "Rappel refusé", "Reminder refused"),
    "dunning.policy_assigned": ("Aanmaningsbeleid gekozen", "Politique de rappel choisie", "Dunning policy assigned"),
    "escalation.approved": ("Dwanglijst goedgekeurd", "Liste de contrainte approuvée", "Escalation approved"),
    "payment_plan.granted": ("Afbetalingsplan toegekend", "Plan de paiement accordé", "Payment plan granted"),
    "hold.added": ("In wacht: {kind}", "Suspendue : {kind}", "On hold: {kind}"),
    "hold.ended": ("Wachttijd beëindigd: {kind}", "Suspension levée : {kind}", "Hold ended: {kind}"),
    "hold.lapsed": ("Wachttijd verlopen", "Suspension expirée", "Hold lapsed"),
    "buyer.responded": ("Antwoord van de koper", "Réponse de l'acheteur", "Buyer responded"),
}, "audit.action.")
MESSAGES |= _entries({
    "actor": ("door", "par", "by"),
    "channel": ("kanaal", "canal", "channel"),
    "recipient": ("ontvanger", "destinataire", "recipient"),
    "reason": ("reden", "motif", "reason"),
    "kind": ("soort", "type", "kind"),
    "number": ("nummer", "numéro", "number"),
    "validation": ("validatie", "validation", "validation"),
    "rules": ("regels", "règles", "rules"),
    "message": ("melding", "message", "message"),
    "name": ("naam", "nom", "name"),
    "value": ("waarde", "valeur", "value"),
    "total": ("totaal", "total", "total"),
    "ogm": ("OGM", "communication structurée", "OGM"),
    "amount": ("bedrag", "montant", "amount"),
    "amount_open": ("open bedrag", "solde", "amount open"),
    "paid_on": ("betaald op", "payé le", "paid on"),
    "source": ("bron", "source", "source"),
    "status": ("status", "statut", "status"),
    "from": ("van", "de", "from"),
    "to": ("naar", "vers", "to"),
    "given": ("gegeven", "donné", "given"),
    "date": ("datum", "date", "date"),
    "step": ("stap", "étape", "step"),
    "fee": ("kosten", "frais", "fee"),
    "new_due_date": ("nieuwe vervaldag", "nouvelle échéance", "new due date"),
    "channel_requirement": ("vereist kanaal", "canal requis", "channel required"),
    "policy": ("beleid", "politique", "policy"),
    "list": ("lijst", "liste", "list"),
    "approving_body": ("goedkeurend orgaan", "organe d'approbation", "approving body"),
    "approved_by": ("goedgekeurd door", "approuvé par", "approved by"),
    "author": ("auteur", "auteur", "author"),
    "starts_on": ("sinds", "depuis le", "since"),
    "ends_on": ("tot", "jusqu'au", "until"),
    "today": ("op", "le", "on"),
    "template": ("sjabloon", "modèle", "template"),
    "months": ("maanden", "mois", "months"),
    "waived_rules": ("uitzonderingen", "dérogations", "waived rules"),
    "exception_by": ("uitzondering door", "dérogation par", "exception by"),
    "exception_reason": ("reden uitzondering", "motif de la dérogation", "exception reason"),
    "contact": ("contact", "contact", "contact"),
    "failed_channel": ("mislukt kanaal", "canal en échec", "failed channel"),
    "was": ("was", "était", "was"),
    "peppol_id": ("Peppol-id", "identifiant Peppol", "Peppol id"),
    "address": ("adres", "adresse", "address"),
    "language": ("taal", "langue", "language"),
    "source_event": ("bron", "source", "source"),
    "response_code": ("antwoordcode", "code de réponse", "response code"),
    "reported_on": ("gemeld op", "signalé le", "reported on"),
    "hold_ends_on": ("wacht tot", "suspendue jusqu'au", "held until"),
    "response_id": ("antwoord-id", "identifiant de réponse", "response id"),
    "response_date": ("antwoorddatum", "date de réponse", "response date"),
    "format": ("formaat", "format", "format"),
    "external_id": ("externe id", "identifiant externe", "external id"),
    "reference": ("referentie", "référence", "reference"),
}, "audit.key.")


# A key of these families missing from the catalogue shows as its last part (an audit action or a
# state the catalogue does not know yet reads "dispatch.something", not "audit.action.dispatch.something").
FALLBACK_PREFIXES = ("audit.action.", "audit.key.", "state.", "status.", "channel.", "hold.kind.", "source.", "validation.", "document.kind.", "claim_type.")


def translate(language: str, key: str) -> str:
    entry = MESSAGES.get(key)
    if entry is None:
        return next((key[len(prefix):] for prefix in FALLBACK_PREFIXES if key.startswith(prefix)), key)
    return entry.get(language) or entry.get("en") or key


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def message(language: str, key: str, args: dict | None = None) -> str:
    """A message with its arguments filled in; an argument named `x_key` is itself a message key, shown translated as `x`."""
    values = _Blank({name.removesuffix("_key"): translate(language, value) if name.endswith("_key") else value for name, value in (args or {}).items()})
    return translate(language, key).format_map(values)


def pick_language(cookie: str | None, default: str | None, accept_language: str | None) -> str:
    """The language cookie, else the user's own language, else the browser's first supported one."""
    for candidate in (cookie, default):
        if candidate in LANGUAGES:
            return candidate
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip()[:2].lower()
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE
