"""Data Mapper: rename keys of objects and translate values through lookup tables."""
