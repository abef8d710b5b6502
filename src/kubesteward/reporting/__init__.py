"""Machine and ticket formats of a diagnosis: JSON/YAML (versioned schema), SARIF, Markdown."""
