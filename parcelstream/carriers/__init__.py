"""Partner carriers: pure parsers of UPS, FedEx and USPS bodies, push verification, polling."""
