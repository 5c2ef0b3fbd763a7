"""The one error type for bad input data.

Every loader, preprocessing function and validator raises ``DataError`` so that a user always learns *where* the
problem is: the file, and when it applies the CSV row (1-based data row, header excluded) and the field/column.
It subclasses ``ValueError`` so generic callers that already catch ``ValueError`` keep working.
"""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Bad input data, located by file, row and field.

    Attributes:
        message: what is wrong, in words.
        file: the offending file (or directory), if known.
        row: 1-based data row in a CSV (the header is row 0), if it applies.
        field: the column or field name, if it applies.
    """

    def __init__(
        self, message: str, file: str | Path | None = None, row: int | None = None, field: str | None = None
    ) -> None:
        self.message = message
        self.file = Path(file) if file is not None else None
        self.row = row
        self.field = field
        super().__init__(self._format())

    def __reduce__(self):
        # Keep file/row/field when the error crosses a process boundary (DataLoader workers, multiprocessing).
        return (type(self), (self.message, self.file, self.row, self.field))

    def _format(self) -> str:
        where = []
        if self.file is not None:
            where.append(str(self.file))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message
