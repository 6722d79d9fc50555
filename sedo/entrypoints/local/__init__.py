"""The local stack: moto server + the same API app and Lambda handlers, on 127.0.0.1."""
