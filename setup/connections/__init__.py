"""The connection wizard (#14 part 2): one system at a time, each step tested live against the far side.

drafts.py keeps a wizard's answers between steps (secrets encrypted, in the server-side session only);
probes.py asks the far side what it has, through the connectors; views.py are the pages.
"""
