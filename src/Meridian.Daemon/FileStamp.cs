namespace Meridian.Daemon;

/// <summary>
/// A file's modification time and size: what the loop's timer compares to tell that a file it read (the leap
/// seconds file, the shared cookie keys) was replaced, without a watcher thread.
/// </summary>
internal readonly record struct FileStamp(DateTime Modified, long Length)
{
    /// <summary>The stamp now, or null when the file is missing or cannot be looked at.</summary>
    public static FileStamp? Of(string path)
    {
        try
        {
            var info = new FileInfo(path);
            return info.Exists ? new FileStamp(info.LastWriteTimeUtc, info.Length) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
