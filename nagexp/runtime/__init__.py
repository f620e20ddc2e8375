"""Where code runs: the Ray session nagexp joins or starts, and the user's code folder shipped
to every worker."""
