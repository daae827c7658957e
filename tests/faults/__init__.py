"""Fault suite: kill processes mid-stream, recover, and check the books balance."""
