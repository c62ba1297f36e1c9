"""Sampling k responses per problem from OpenAI-compatible endpoints: client, retries budget, endpoints, batch APIs, resume, manifest."""
