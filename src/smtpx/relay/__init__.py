"""The relay: store and forward mail to its next hop (MX or smarthost), retry, bounce."""
