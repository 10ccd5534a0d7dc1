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
    "claim.event.document": {"nl": "Document uitgegeven", "fr": "Document émis", "en": "Document issued"},
    "claim.event.dispatch": {"nl": "Verzending", "fr": "Envoi", "en": "Dispatch"},
    "claim.event.attempt": {"nl": "Poging", "fr": "Tentative", "en": "Attempt"},
    "claim.event.audit": {"nl": "Historiek", "fr": "Historique", "en": "History"},
    "claim.event.payment": {"nl": "Betaling", "fr": "Paiement", "en": "Payment"},
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


def translate(language: str, key: str) -> str:
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    return entry.get(language) or entry.get("en") or key


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
