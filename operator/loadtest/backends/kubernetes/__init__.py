"""The Kubernetes backend: chart rendering and installation through pyhelm3, the Kubernetes API
calls that follow a run, the artifact bundle the gate Job prints, and the local control-plane
helper used by the cluster tests.

May import `stats` and `core`.
"""
