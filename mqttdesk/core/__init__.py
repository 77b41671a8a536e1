"""Pure domain rules: no Qt, no asyncio, no amqtt, no sqlite. Everything here is fast to test in isolation."""
