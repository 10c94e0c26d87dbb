"""Drafting and revising storyboards with a language model, through the front door: every answer is
turned into storyboard text, loaded, validated and linted like a file, and repaired in rounds."""
