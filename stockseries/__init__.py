"""stockseries."""
