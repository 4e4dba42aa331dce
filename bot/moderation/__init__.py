"""Moderation: the prompt rules servers block prompts with."""
