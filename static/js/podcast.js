// The podcast settings page (templates/replays/settings_podcast.html): the feed's Copy button.
import { wireCopyButtons } from "./lib.js";

wireCopyButtons(document);
