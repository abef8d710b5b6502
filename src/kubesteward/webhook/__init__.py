"""The admission webhook server: the policy engine at admission time (validating and mutating)."""
