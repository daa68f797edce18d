"""What the exporter's and the consumer's functions both use, written once.

Each function ships its own package and this one (src/Makefile); nothing here imports either.
"""
