"""The sandbox seen from the grader: starting it (bubblewrap, limits, cgroups), talking to it, and
turning what it sends back into validated values and proxies.
"""
