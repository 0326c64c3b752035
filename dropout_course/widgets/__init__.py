"""Figures and interactive ipywidgets demos, one module per chapter (the chapter's key).

The demos run in Jupyter; the website shows static figures drawn by the same code in their place.
"""
