"""nbgrader preprocessors of the course."""

from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor


class StderrIsNotFailure(NbGraderPreprocessor):
    """Let only an exception fail a test cell.

    nbgrader scores a test cell 0 when the cell wrote anything to stderr, so a correct answer
    that makes NumPy print a RuntimeWarning would lose its points. This runs after the notebook
    is executed and before the grades are saved, and turns each stderr stream into stdout, so
    the text still shows in the feedback but does not decide the grade.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        """Rename the cell's stderr outputs to stdout."""
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    output["name"] = "stdout"
        return cell, resources
