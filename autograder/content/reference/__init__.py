"""Reference implementations: the instructor's answers, one module per topic (the chapter's key).

Each exercise's module holds every function the exercise asks for, the COURSE-SPEC functions
among them (``bernoulli_masks``: ``bernoulli_mask``, ``dropout_forward``, ``Dropout``,
``predict``; ``backpropagation``: ``dropout_backward``; ``max_norm``: ``max_norm``). They are used
by the hidden tests at grading time and by the project's tests; they are never copied into the
website, the released exercises or the student kit.
"""
