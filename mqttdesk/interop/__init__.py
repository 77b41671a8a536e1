"""Other brokers' formats, pure: Mosquitto's password and ACL files and dynamic-security JSON, EMQX's built-in
database and `acl.conf`, and the report of what a target cannot express.

Nothing here touches the store or the disk: `store/interop.py` gathers what is exported and applies an import plan
in one transaction, the CLI and the window write and read the files.
"""
