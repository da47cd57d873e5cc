namespace Meridian.Interop.Tests;

/// <summary>Measured figures (offsets, times to select) collected into TestResults/figures.txt, which ./test.sh prints.</summary>
internal static class Figures
{
    private static readonly object Gate = new();

    public static void Record(string line)
    {
        string dir = Path.Combine(Sandbox.RepoRoot, "TestResults");
        System.IO.Directory.CreateDirectory(dir);
        lock (Gate)
        {
            File.AppendAllText(Path.Combine(dir, "figures.txt"), line + Environment.NewLine);
        }
    }
}
