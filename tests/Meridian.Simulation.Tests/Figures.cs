namespace Meridian.Simulation.Tests;

/// <summary>Measured figures collected into TestResults/figures.txt at the repository root, which ./test.sh prints.</summary>
internal static class Figures
{
    private static readonly object Gate = new();

    public static void Record(string line)
    {
        string? root = AppContext.BaseDirectory;
        while (root is not null && !File.Exists(Path.Combine(root, "Meridian.sln")))
        {
            root = Path.GetDirectoryName(root);
        }

        if (root is null)
        {
            return;
        }

        string dir = Path.Combine(root, "TestResults");
        Directory.CreateDirectory(dir);
        lock (Gate)
        {
            File.AppendAllText(Path.Combine(dir, "figures.txt"), line + Environment.NewLine);
        }
    }
}
