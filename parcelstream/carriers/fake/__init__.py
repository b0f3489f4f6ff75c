"""Local fake carrier servers (UPS, FedEx, USPS) that speak each carrier's documented wire format,
for tests and demos: `parcelstream fake-carrier ups|fedex|usps --port P`."""
