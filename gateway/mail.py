"""Sending e-mail through the association's mail server (``[smtp]``): digests and
information copies. The password comes by reference and is never logged."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from gateway.config import SmtpConfig


class Mailer:
    def __init__(self, settings: SmtpConfig):
        self.settings = settings

    @property
    def configured(self) -> bool:
        return bool(self.settings.host)

    def message(self, recipients: list[str], subject: str, text: str) -> EmailMessage:
        """Return a plain-text message from the gateway's sender to ``recipients``."""
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = ", ".join(recipients)
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message.set_content(text)
        return message

    def deliver(self, message: EmailMessage) -> None:
        """Hand ``message`` to the mail server; smtplib's errors reach the caller."""
        with smtplib.SMTP(
            self.settings.host, self.settings.port, timeout=self.settings.timeout
        ) as smtp:
            if self.settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.settings.username:
                smtp.login(self.settings.username, self.settings.password or "")
            smtp.send_message(message)

    def send(self, recipients: list[str], subject: str, text: str, html_body: str) -> None:
        """Send a message with a text and an HTML part."""
        message = self.message(recipients, subject, text)
        message.add_alternative(html_body, subtype="html")
        self.deliver(message)
