"""Partner file formats: each streams records (with their line numbers) or writes them."""
