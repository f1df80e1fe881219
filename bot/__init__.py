"""anime-llasa-bot: a Discord voice bot speaking with Anime-Llasa-3B."""
