"""SNMP: an AgentX subagent (RFC 2741) serving keepalived's MIBs and traps.

``agentx`` (sans-I/O codec), ``agent`` (asyncio), ``mib`` (the MIB view), ``service`` (in the daemon).
"""
