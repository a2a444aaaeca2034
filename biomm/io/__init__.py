"""Readers: open a file, return a typed record with its metadata. No model code here."""
