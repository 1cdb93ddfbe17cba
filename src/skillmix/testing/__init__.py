"""Test doubles shared by the test suite and the benchmarks: loopback OpenAI server, scripted models, tiny model."""
