namespace Meridian.Config;

public enum DiagnosticSeverity
{
    Warning,
    Error,
}

/// <summary>A problem found in a configuration file, located to the column so an administrator can go straight to it.</summary>
public sealed record ConfigDiagnostic(DiagnosticSeverity Severity, string File, int Line, int Column, string Message)
{
    /// <summary>A warning that a line is read and checked but its feature is not in effect in this build yet.</summary>
    public bool NotInEffect { get; init; }

    /// <summary><c>ntp.conf:12:8: error: ...</c>, the form compilers use and editors understand.</summary>
    public override string ToString() =>
        $"{File}:{Line}:{Column}: {(Severity == DiagnosticSeverity.Error ? "error" : "warning")}: {Message}";
}
