"""The plain values the alert lifecycle produces, the sinks send and the state store keeps.

Alerts and notifications (``types``), silences and their matchers (``silences``).
A leaf below every feature, so the store persists them without knowing the
lifecycle that makes them.
"""
