"""mqttdesk's own certificate authority, on `cryptography`: keys, the CA, the certificates it issues, fingerprints,
exports and the CRL. Pure: no Qt, no asyncio, no sqlite; every mistake a person can make is a `ValidationError`
with a sentence (the store keeps the results, the broker uses them)."""
