"""Policy: one rule engine for manifests in CI (`lint`), live clusters (`audit`) and admission (`webhook`)."""
