"""Telling the parents: the outbox, its sender (SMTP, SMS gateway, development sink) and the
tracking number that every receipt, page and message shows.

- `tracking`  the short tracking number: random, grouped, with a check character
- `outbox`    `record()`: the registry's events written in the event's own transaction
- `messages`  the texts, in the application's language, with no IIN and no names
- `transports` SMTP (smtplib), the SMS gateway (httpx), the development sink (the database)
- `sender`    claims due messages (leases), delivers them with back-off; the background thread
- `service`, `pages`  the staff page of messages and their delivery (/notify/outbox)
- `cli`       `birthreg notify send-pending`
"""
