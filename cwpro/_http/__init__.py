"""The SDK's HTTP core: request options, transport, retries, envelope decoding, auth, redaction."""
