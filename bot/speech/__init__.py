"""The speech engine: prompts, the Llasa LLM, the XCodec2 codec; knows nothing of Discord."""
