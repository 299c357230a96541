/** One mistake in the route files, at the line and column a reader goes to. */
export interface ConfigIssue {
  file: string;
  /** 1-based; a problem with a whole file or directory is at 1:1. */
  line: number;
  col: number;
  /** JSON pointer into the document, '' for the document itself. */
  pointer: string;
  message: string;
}
