"""The attack corpus: each probe of issue 15 as a regression test."""
