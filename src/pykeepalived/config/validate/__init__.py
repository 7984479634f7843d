"""Checks and defaults that need the whole configuration, run after parsing (keepalived's
``init_global_data``, ``vrrp_complete_init``, ``validate_check_config`` and script checks)."""
