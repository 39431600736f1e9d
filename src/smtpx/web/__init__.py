"""smtpx.web: the inbox, a web UI and JSON API over the store."""
