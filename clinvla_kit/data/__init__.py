"""Data: study records, source loaders, image and report preprocessing, dataset and collate."""
