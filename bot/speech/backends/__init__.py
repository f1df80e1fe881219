"""Where speech codes come from: the embedded llama.cpp model or serving engines (see base.py)."""
