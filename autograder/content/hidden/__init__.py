"""The hidden tests of the exercises, one module per topic (the chapter's key).

The exercise notebooks call these from their hidden test cells, which nbgrader strips from the
released notebooks. Each returns the visible check's ``Verdict`` on inputs the student has not
seen, with properties of its own added (comparisons with the reference and with PyTorch), so the
feedback names each mistake without showing this code.
"""
