"""Datasets: placeholder until the datasets module is written."""
