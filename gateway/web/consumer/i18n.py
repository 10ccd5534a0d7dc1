"""The personal page's words in Dutch, French, German and English (the debtor's languages).

A key missing in a language falls back to English, then to the key, so a page never breaks on
a missing translation. `{name}` placeholders are filled with `str.format`.
"""

from __future__ import annotations

LANGUAGES = ("nl", "fr", "de", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "page.title": {"nl": "Uw persoonlijke pagina", "fr": "Votre page personnelle", "de": "Ihre persönliche Seite", "en": "Your personal page"},
    "page.hello": {"nl": "Goeiedag {name}", "fr": "Bonjour {name}", "de": "Guten Tag {name}", "en": "Hello {name}"},
    "page.intro": {
        "nl": "Hier ziet u wat u verschuldigd bent aan {creditor}, kunt u betalen en uw gegevens aanpassen.",
        "fr": "Vous voyez ici ce que vous devez à {creditor}, vous pouvez payer et mettre vos coordonnées à jour.",
        "de": "Hier sehen Sie, was Sie {creditor} schulden, können bezahlen und Ihre Angaben ändern.",
        "en": "Here you see what you owe {creditor}, pay it and update your details.",
    },
    "open.title": {"nl": "Te betalen", "fr": "À payer", "de": "Zu bezahlen", "en": "To pay"},
    "open.none": {"nl": "U hebt niets meer te betalen.", "fr": "Vous n'avez plus rien à payer.", "de": "Sie haben nichts mehr zu bezahlen.", "en": "You have nothing left to pay."},
    "claim.number": {"nl": "Nummer", "fr": "Numéro", "de": "Nummer", "en": "Number"},
    "claim.amount_open": {"nl": "Nog te betalen", "fr": "Montant ouvert", "de": "Offener Betrag", "en": "Amount open"},
    "claim.total": {"nl": "Totaal", "fr": "Total", "de": "Gesamt", "en": "Total"},
    "claim.due": {"nl": "Vervaldag", "fr": "Échéance", "de": "Fällig am", "en": "Due date"},
    "claim.ogm": {"nl": "Gestructureerde mededeling", "fr": "Communication structurée", "de": "Strukturierte Mitteilung", "en": "Structured communication"},
    "claim.status": {"nl": "Status", "fr": "Statut", "de": "Status", "en": "Status"},
    "claim.documents": {"nl": "Documenten", "fr": "Documents", "de": "Dokumente", "en": "Documents"},
    "claim.paid_on": {"nl": "Betaald op", "fr": "Payé le", "de": "Bezahlt am", "en": "Paid on"},
    "status.open": {"nl": "Open", "fr": "Ouvert", "de": "Offen", "en": "Open"},
    "status.partially_paid": {"nl": "Deels betaald", "fr": "Payé en partie", "de": "Teilweise bezahlt", "en": "Partly paid"},
    "status.paid": {"nl": "Betaald", "fr": "Payé", "de": "Bezahlt", "en": "Paid"},
    "status.disputed": {"nl": "Betwist", "fr": "Contesté", "de": "Bestritten", "en": "Disputed"},
    "status.on_hold": {"nl": "Opgeschort", "fr": "Suspendu", "de": "Ausgesetzt", "en": "On hold"},
    "status.in_payment_plan": {"nl": "Afbetalingsplan", "fr": "Plan de paiement", "de": "Ratenplan", "en": "Payment plan"},
    "status.escalated": {"nl": "Invordering", "fr": "Recouvrement", "de": "Beitreibung", "en": "In collection"},
    "status.cancelled": {"nl": "Geannuleerd", "fr": "Annulé", "de": "Storniert", "en": "Cancelled"},
    "status.written_off": {"nl": "Afgeboekt", "fr": "Annulé en compte", "de": "Abgeschrieben", "en": "Written off"},
    "document.invoice": {"nl": "Factuur", "fr": "Facture", "de": "Rechnung", "en": "Invoice"},
    "document.reminder": {"nl": "Herinnering", "fr": "Rappel", "de": "Mahnung", "en": "Reminder"},
    "document.credit_note": {"nl": "Creditnota", "fr": "Note de crédit", "de": "Gutschrift", "en": "Credit note"},
    "document.fee_invoice": {"nl": "Kostennota", "fr": "Note de frais", "de": "Kostennote", "en": "Fee note"},
    "pay.transfer": {
        "nl": "Overschrijving: scan de code met uw bankapp", "fr": "Virement : scannez le code avec votre app bancaire",
        "de": "Überweisung: Code mit Ihrer Banking-App scannen", "en": "Bank transfer: scan the code with your banking app",
    },
    "pay.iban": {"nl": "Rekening", "fr": "Compte", "de": "Konto", "en": "Account"},
    "pay.bancontact": {"nl": "Betalen met Bancontact", "fr": "Payer avec Bancontact", "de": "Mit Bancontact bezahlen", "en": "Pay with Bancontact"},
    "pay.bancontact_qr": {"nl": "Toon Bancontact-QR-code", "fr": "Afficher le code QR Bancontact", "de": "Bancontact-QR-Code zeigen", "en": "Show Bancontact QR code"},
    "pay.scan": {
        "nl": "Scan met de Bancontact-app of open de betaling op uw smartphone.", "fr": "Scannez avec l'app Bancontact ou ouvrez le paiement sur votre smartphone.",
        "de": "Mit der Bancontact-App scannen oder die Zahlung auf dem Smartphone öffnen.", "en": "Scan with the Bancontact app or open the payment on your phone.",
    },
    "pay.open_app": {"nl": "Open de Bancontact-app", "fr": "Ouvrir l'app Bancontact", "de": "Bancontact-App öffnen", "en": "Open the Bancontact app"},
    "pay.valid_until": {"nl": "Geldig tot", "fr": "Valable jusqu'à", "de": "Gültig bis", "en": "Valid until"},
    "pay.back": {"nl": "Terug naar uw pagina", "fr": "Retour à votre page", "de": "Zurück zu Ihrer Seite", "en": "Back to your page"},
    "pay.unavailable": {
        "nl": "Betalen met Bancontact lukt nu niet. Betaal met een overschrijving of probeer later opnieuw.",
        "fr": "Le paiement Bancontact n'est pas possible pour le moment. Payez par virement ou réessayez plus tard.",
        "de": "Bancontact ist gerade nicht verfügbar. Bitte überweisen Sie oder versuchen Sie es später.",
        "en": "Bancontact is not available right now. Pay by bank transfer or try again later.",
    },
    "history.title": {"nl": "Betaald en afgesloten", "fr": "Payé et clôturé", "de": "Bezahlt und abgeschlossen", "en": "Paid and closed"},
    "contact.title": {"nl": "Uw contactgegevens", "fr": "Vos coordonnées", "de": "Ihre Kontaktdaten", "en": "Your contact details"},
    "contact.email": {"nl": "E-mailadres", "fr": "Adresse e-mail", "de": "E-Mail-Adresse", "en": "E-mail address"},
    "contact.phone": {"nl": "Gsm-nummer", "fr": "Numéro de GSM", "de": "Handynummer", "en": "Mobile number"},
    "contact.none": {"nl": "niet bekend", "fr": "inconnu", "de": "nicht bekannt", "en": "not known"},
    "contact.new_email": {"nl": "Nieuw e-mailadres", "fr": "Nouvelle adresse e-mail", "de": "Neue E-Mail-Adresse", "en": "New e-mail address"},
    "contact.new_phone": {"nl": "Nieuw gsm-nummer", "fr": "Nouveau numéro de GSM", "de": "Neue Handynummer", "en": "New mobile number"},
    "contact.send_link": {"nl": "Stuur een bevestigingslink", "fr": "Envoyer un lien de confirmation", "de": "Bestätigungslink senden", "en": "Send a confirmation link"},
    "contact.send_code": {"nl": "Stuur een code per sms", "fr": "Envoyer un code par SMS", "de": "Code per SMS senden", "en": "Send a code by SMS"},
    "contact.code": {"nl": "Code uit de sms", "fr": "Code reçu par SMS", "de": "Code aus der SMS", "en": "Code from the SMS"},
    "contact.confirm": {"nl": "Bevestigen", "fr": "Confirmer", "de": "Bestätigen", "en": "Confirm"},
    "contact.hint": {
        "nl": "Een nieuw adres of nummer gebruiken we pas nadat u het bevestigd hebt.", "fr": "Nous n'utilisons une nouvelle adresse ou un nouveau numéro qu'après votre confirmation.",
        "de": "Eine neue Adresse oder Nummer verwenden wir erst nach Ihrer Bestätigung.", "en": "We use a new address or number only after you have confirmed it.",
    },
    "prefs.title": {"nl": "Taal en hoe we u bereiken", "fr": "Langue et comment vous joindre", "de": "Sprache und wie wir Sie erreichen", "en": "Language and how we reach you"},
    "prefs.language": {"nl": "Taal", "fr": "Langue", "de": "Sprache", "en": "Language"},
    "prefs.consent": {"nl": "U mag me berichten sturen via", "fr": "Vous pouvez m'envoyer des messages par", "de": "Sie dürfen mir Nachrichten senden per", "en": "You may send me messages by"},
    "prefs.save": {"nl": "Opslaan", "fr": "Enregistrer", "de": "Speichern", "en": "Save"},
    "channel.email": {"nl": "e-mail", "fr": "e-mail", "de": "E-Mail", "en": "e-mail"},
    "channel.sms": {"nl": "sms", "fr": "SMS", "de": "SMS", "en": "SMS"},
    "channel.ebox": {"nl": "eBox", "fr": "eBox", "de": "eBox", "en": "eBox"},
    "channel.paper": {"nl": "brief per post", "fr": "lettre par la poste", "de": "Brief per Post", "en": "letter by post"},
    "notice.email_sent": {
        "nl": "We stuurden een bevestigingslink naar {value}. Uw adres wijzigt pas als u die link opent.",
        "fr": "Nous avons envoyé un lien de confirmation à {value}. Votre adresse ne change qu'après l'ouverture de ce lien.",
        "de": "Wir haben einen Bestätigungslink an {value} gesendet. Ihre Adresse ändert sich erst, wenn Sie ihn öffnen.",
        "en": "We sent a confirmation link to {value}. Your address changes only when you open it.",
    },
    "notice.sms_sent": {
        "nl": "We stuurden een code naar {value}. Vul die hieronder in.", "fr": "Nous avons envoyé un code au {value}. Saisissez-le ci-dessous.",
        "de": "Wir haben einen Code an {value} gesendet. Bitte unten eingeben.", "en": "We sent a code to {value}. Enter it below.",
    },
    "notice.email_confirmed": {"nl": "Uw nieuw e-mailadres {value} is bevestigd.", "fr": "Votre nouvelle adresse e-mail {value} est confirmée.", "de": "Ihre neue E-Mail-Adresse {value} ist bestätigt.", "en": "Your new e-mail address {value} is confirmed."},
    "notice.phone_confirmed": {"nl": "Uw nieuw gsm-nummer {value} is bevestigd.", "fr": "Votre nouveau numéro {value} est confirmé.", "de": "Ihre neue Handynummer {value} ist bestätigt.", "en": "Your new mobile number {value} is confirmed."},
    "notice.saved": {"nl": "Uw voorkeuren zijn opgeslagen.", "fr": "Vos préférences sont enregistrées.", "de": "Ihre Einstellungen sind gespeichert.", "en": "Your preferences are saved."},
    "error.no_email_relay": {
        "nl": "We kunnen op dit moment geen e-mail versturen; uw adres blijft ongewijzigd. Probeer later opnieuw.",
        "fr": "Nous ne pouvons pas envoyer d'e-mail pour le moment ; votre adresse reste inchangée. Réessayez plus tard.",
        "de": "Wir können gerade keine E-Mail senden; Ihre Adresse bleibt unverändert. Bitte später erneut versuchen.",
        "en": "We cannot send e-mail at the moment; your address stays as it is. Please try again later.",
    },
    "error.no_sms": {
        "nl": "We kunnen op dit moment geen sms versturen; uw nummer blijft ongewijzigd.", "fr": "Nous ne pouvons pas envoyer de SMS pour le moment ; votre numéro reste inchangé.",
        "de": "Wir können gerade keine SMS senden; Ihre Nummer bleibt unverändert.", "en": "We cannot send text messages at the moment; your number stays as it is.",
    },
    "error.send_failed": {
        "nl": "Versturen naar {value} lukte niet; er is niets gewijzigd.", "fr": "L'envoi à {value} a échoué ; rien n'a changé.",
        "de": "Der Versand an {value} ist fehlgeschlagen; nichts wurde geändert.", "en": "Sending to {value} failed; nothing was changed.",
    },
    "error.email_invalid": {"nl": "Dat is geen geldig e-mailadres.", "fr": "Ce n'est pas une adresse e-mail valable.", "de": "Das ist keine gültige E-Mail-Adresse.", "en": "That is not a valid e-mail address."},
    "error.phone_invalid": {
        "nl": "Geef een gsm-nummer in internationale vorm, bv. +32470123456.", "fr": "Indiquez un numéro au format international, p. ex. +32470123456.",
        "de": "Bitte eine Nummer im internationalen Format, z. B. +32470123456.", "en": "Give a mobile number in international form, e.g. +32470123456.",
    },
    "error.code_wrong": {"nl": "Die code klopt niet of is verlopen.", "fr": "Ce code est incorrect ou a expiré.", "de": "Dieser Code ist falsch oder abgelaufen.", "en": "That code is wrong or has expired."},
    "error.link_invalid": {"nl": "Deze bevestigingslink is ongeldig of verlopen.", "fr": "Ce lien de confirmation est invalide ou a expiré.", "de": "Dieser Bestätigungslink ist ungültig oder abgelaufen.", "en": "This confirmation link is invalid or has expired."},
    "error.pay_unavailable": {
        "nl": "Betalen met Bancontact is hier niet mogelijk. Betaal met een overschrijving.", "fr": "Le paiement Bancontact n'est pas proposé ici. Payez par virement.",
        "de": "Bancontact wird hier nicht angeboten. Bitte überweisen Sie.", "en": "Bancontact is not offered here. Please pay by bank transfer.",
    },
    "confirmed.title": {"nl": "E-mailadres bevestigd", "fr": "Adresse e-mail confirmée", "de": "E-Mail-Adresse bestätigt", "en": "E-mail address confirmed"},
    "confirmed.close": {
        "nl": "U mag dit venster sluiten. Berichten komen voortaan op dit adres.", "fr": "Vous pouvez fermer cette fenêtre. Les messages arriveront désormais à cette adresse.",
        "de": "Sie können dieses Fenster schließen. Nachrichten kommen künftig an diese Adresse.", "en": "You may close this window. Messages will come to this address from now on.",
    },
    "error.form": {"nl": "Het formulier is verlopen; probeer opnieuw.", "fr": "Le formulaire a expiré ; réessayez.", "de": "Das Formular ist abgelaufen; bitte erneut versuchen.", "en": "The form has expired; please try again."},
    "mail.subject": {"nl": "Bevestig uw e-mailadres voor {creditor}", "fr": "Confirmez votre adresse e-mail pour {creditor}", "de": "Bestätigen Sie Ihre E-Mail-Adresse für {creditor}", "en": "Confirm your e-mail address for {creditor}"},
    "mail.body": {
        "nl": "Goeiedag,\n\nU vroeg om berichten van {creditor} voortaan naar dit adres te sturen.\nOpen deze link binnen 24 uur om dat te bevestigen:\n\n{link}\n\nVroeg u dit niet? Dan hoeft u niets te doen; er verandert niets.\n",
        "fr": "Bonjour,\n\nVous avez demandé que {creditor} vous écrive désormais à cette adresse.\nOuvrez ce lien dans les 24 heures pour le confirmer :\n\n{link}\n\nVous n'avez rien demandé ? Ne faites rien ; rien ne changera.\n",
        "de": "Guten Tag,\n\nSie haben gebeten, dass {creditor} Ihnen künftig an diese Adresse schreibt.\nÖffnen Sie diesen Link innerhalb von 24 Stunden, um das zu bestätigen:\n\n{link}\n\nHaben Sie das nicht veranlasst? Dann müssen Sie nichts tun; nichts ändert sich.\n",
        "en": "Hello,\n\nYou asked {creditor} to write to you at this address from now on.\nOpen this link within 24 hours to confirm:\n\n{link}\n\nDid not ask for this? Then do nothing; nothing changes.\n",
    },
    "sms.code": {
        "nl": "{creditor}: uw bevestigingscode is {code}. Geldig 15 minuten.", "fr": "{creditor} : votre code de confirmation est {code}. Valable 15 minutes.",
        "de": "{creditor}: Ihr Bestätigungscode ist {code}. Gültig 15 Minuten.", "en": "{creditor}: your confirmation code is {code}. Valid for 15 minutes.",
    },
    "page.valid_until": {
        "nl": "Deze persoonlijke link is geldig tot {day}. Elk nieuw bericht brengt een nieuwe link.", "fr": "Ce lien personnel est valable jusqu'au {day}. Chaque nouveau message contient un nouveau lien.",
        "de": "Dieser persönliche Link ist gültig bis {day}. Jede neue Nachricht enthält einen neuen Link.", "en": "This personal link is valid until {day}. Every new message brings a new link.",
    },
    "too_many.text": {"nl": "Te veel pogingen. Probeer later opnieuw.", "fr": "Trop de tentatives. Réessayez plus tard.", "de": "Zu viele Versuche. Bitte später erneut versuchen.", "en": "Too many attempts. Please try again later."},
}


def translate(language: str, key: str, **values: object) -> str:
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    text = entry.get(language) or entry.get("en") or key
    return text.format(**values) if values else text


def pick(requested: str | None, debtor_language: str | None) -> str:
    """The language asked for in the URL, else the debtor's own, else Dutch."""
    for candidate in (requested, debtor_language):
        if candidate in LANGUAGES:
            return candidate
    return "nl"
