"""The pure core: definition language, execution model and engine.

Nothing in this package performs I/O or imports boto3, Flask or Connexion.
"""
