"""The bottom layer: settings, connections, the embedded server, the shim, the target, files.

Nothing here imports another part of selfheal (see the layers in docs/ARCHITECTURE.md).
"""
